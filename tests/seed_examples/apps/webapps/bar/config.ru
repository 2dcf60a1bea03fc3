# /webapps/bar: the www.bar.com Rails app of seed 000 §8.3.1 (bar.com in §8.5.13), as a Rack app that says who it is.
require_relative "../../ferry-seed/echo"
run SeedEcho.new("bar")
