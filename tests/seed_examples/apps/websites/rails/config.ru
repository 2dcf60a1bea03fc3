# /websites/rails: the Rails app that seed 000 §3.2 deploys to the sub-URI /subapp, as a Rack app that says who it is.
require_relative "../../ferry-seed/echo"
run SeedEcho.new("rails")
