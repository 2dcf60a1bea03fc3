# /webapps/mycook: the MyCook Rails app of seed 000 §3.1, as a Rack app that says who it is.
require_relative "../../ferry-seed/echo"
run SeedEcho.new("mycook")
