# /webapps/rackapp: the Rack app of seed 000 §4.2.
require_relative "../../ferry-seed/echo"
run SeedEcho.new("rackapp")
