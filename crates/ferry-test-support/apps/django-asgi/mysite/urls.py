from django.urls import path

from mysite import views

urlpatterns = [path('hello/<str:name>/', views.hello)]
