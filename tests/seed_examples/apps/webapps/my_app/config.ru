# /webapps/my_app: the app of seed 000 §8.5.11 (passenger_max_request_time, with /expensive_computation).
require_relative "../../ferry-seed/echo"
run SeedEcho.new("my_app")
