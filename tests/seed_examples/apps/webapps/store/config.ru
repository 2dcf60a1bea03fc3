# /webapps/store: the store app that seed 000 §8.5.13 example 2 deploys to myblog.com/store (webapps/wordpress/store links to its public directory).
require_relative "../../ferry-seed/echo"
run SeedEcho.new("store")
