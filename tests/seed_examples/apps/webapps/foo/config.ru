# /webapps/foo: the www.foo.com Rails app of seed 000 §8.2.1 and §8.3.1 (foo.com in §8.5.13), as a Rack app that says who it is.
require_relative "../../ferry-seed/echo"
run SeedEcho.new("foo")
