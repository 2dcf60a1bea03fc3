# /websites/rack: the Rack app that seed 000 §4.3 deploys to the sub-URI /subapp.
require_relative "../../ferry-seed/echo"
run SeedEcho.new("rack")
