# The least a Django project needs to answer requests: no database, no templates.
SECRET_KEY = 'ferry-test-only'
DEBUG = False
ALLOWED_HOSTS = ['*']
ROOT_URLCONF = 'mysite.urls'
INSTALLED_APPS = []
MIDDLEWARE = []
DATABASES = {}
USE_TZ = True
