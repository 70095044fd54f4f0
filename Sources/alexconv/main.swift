print("alexconv")
