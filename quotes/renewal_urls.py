from django.urls import path

from quotes import renewal_views

app_name = "renewals"
urlpatterns = [
    path("", renewal_views.renewal_list, name="list"),
    path("<int:subscription_id>/quote/", renewal_views.renewal_quote_new, name="quote"),
]
