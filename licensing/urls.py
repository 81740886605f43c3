from django.urls import path

from licensing import views

app_name = "licensing"

urlpatterns = [
    path("", views.customer_list, name="customers"),
    path("<str:code>/", views.customer_detail, name="customer"),
]
