# /var/rails/zena: Zena, the app of seed 000 §8.3.7 whose root passenger_app_root names (its public directory is sites/example.com/public).
require_relative "../../../ferry-seed/echo"
run SeedEcho.new("zena")
