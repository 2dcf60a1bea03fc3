# /websites/blog: the blog that seed 000 §8.3.1 deploys to www.bar.com/blog (with JRuby there), as a Rack app that says who it is.
require_relative "../../ferry-seed/echo"
run SeedEcho.new("blog")
