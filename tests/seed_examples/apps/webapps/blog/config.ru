# /webapps/blog: "my super blog" of seed 000 §8.6.1 (passenger_set_cgi_param).
require_relative "../../ferry-seed/echo"
run SeedEcho.new("superblog")
