# /webapps/queue: the app of seed 000 §8.6.2 (passenger_max_request_queue_size, with a custom 503 page).
require_relative "../../ferry-seed/echo"
run SeedEcho.new("queue")
