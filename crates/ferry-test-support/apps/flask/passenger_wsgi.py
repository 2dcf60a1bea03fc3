# Startup file of the Flask fixture app, written the way Flask users write it for Passenger.
from app import app as application
