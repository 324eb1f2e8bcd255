myproject_lib.v
myproject.v
