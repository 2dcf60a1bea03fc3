# /webapps/foobar: the foobar.com app of seed 000 §8.5.2 (passenger_min_instances 3).
require_relative "../../ferry-seed/echo"
run SeedEcho.new("foobar")
