# /websites/wsgi: the WSGI app that seed 000 §5.3 deploys to the sub-URI /subapp.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'ferry-seed'))
import seed_echo  # noqa: E402

application = seed_echo.make_app('wsgi')
