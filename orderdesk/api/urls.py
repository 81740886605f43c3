from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from licensing.api.views import LicenseViewSet, ProductViewSet
from orders.api.views import OrderQuotePdfView, OrderViewSet

router = SimpleRouter()
router.register("products", ProductViewSet, basename="product")
router.register("orders", OrderViewSet, basename="order")
router.register("licenses", LicenseViewSet, basename="license")

app_name = "api"
urlpatterns = [
    # Not a router route: the API contract fixes this path without a trailing slash.
    path("v1/orders/<str:number>/documents/quote.pdf", OrderQuotePdfView.as_view(), name="order-quote-pdf"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
