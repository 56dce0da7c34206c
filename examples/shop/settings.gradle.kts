rootProject.name = "shop"
include(":app", ":wear")
