import functools

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from licensing.api.validate import device_validate_view
from licensing.api.views import LicenseViewSet, ProductViewSet
from orderdesk.notifications.api import WebhookEndpointViewSet
from orders.api.quotes import QuoteAcceptView
from orders.api.submit import order_submit_view
from orders.api.views import OrderQuotePdfView, OrderViewSet
from quotes.api.views import QuoteDetailView

router = SimpleRouter()
router.register("products", ProductViewSet, basename="product")
router.register("licenses", LicenseViewSet, basename="license")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")


def _with_the_intake(order_list):
    """The order list's URL: POST goes to the order intake's own view, everything else to DRF's list.

    The view keeps the DRF view's attributes (cls, actions) so that drf-spectacular
    describes both operations (POST through orders.api.schema).
    """

    @functools.wraps(order_list)
    def order_collection(request, *args, **kwargs):
        if request.method == "POST":
            return order_submit_view(request)
        response = order_list(request, *args, **kwargs)
        if response.has_header("Allow"):  # DRF's list view lists its own methods; this URL answers POST too
            response["Allow"] = "GET, POST, HEAD, OPTIONS"
        return response

    order_collection.actions = {**order_list.actions, "post": "create"}
    return order_collection


def _devices_apart(validate):
    """The validation URL: requests without an Authorization header (a device) go to the device's own view.

    Every request with one (a purchasing system's token, or a wrong one: 401)
    goes to the DRF action, which carries the operation's schema (the view
    keeps its attributes for drf-spectacular).
    """

    @functools.wraps(validate)
    def license_validation(request, *args, **kwargs):
        if request.method == "POST" and "HTTP_AUTHORIZATION" not in request.META:
            return device_validate_view(request)
        return validate(request, *args, **kwargs)

    return license_validation


app_name = "api"
urlpatterns = [
    path("v1/orders/", _with_the_intake(OrderViewSet.as_view({"get": "list"})), name="order-list"),
    path("v1/orders/<str:number>/", OrderViewSet.as_view({"get": "retrieve"}), name="order-detail"),
    path("v1/orders/<str:number>/cancel/", OrderViewSet.as_view({"post": "cancel"}), name="order-cancel"),
    # Not a router route: the API contract fixes this path without a trailing slash.
    path("v1/orders/<str:number>/documents/quote.pdf", OrderQuotePdfView.as_view(), name="order-quote-pdf"),
    # Before the router's own route for the same action, which stays for reverse() and the schema.
    path("v1/licenses/validate/", _devices_apart(LicenseViewSet.as_view({"post": "validate"})), name="license-validate-devices"),
    path("v1/", include(router.urls)),
    path("v1/quotes/<str:number>/", QuoteDetailView.as_view(), name="quote-detail"),
    path("v1/quotes/<str:number>/accept/", QuoteAcceptView.as_view(), name="quote-accept"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
