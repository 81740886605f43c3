from rest_framework import mixins, viewsets

from licensing.api.serializers import ProductSerializer
from licensing.models import Product


class ProductViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The active catalog with volume price tiers (yen, tax-exclusive)."""

    serializer_class = ProductSerializer
    lookup_field = "sku"
    pagination_class = None  # the catalog is a handful of products

    def get_queryset(self):
        return Product.objects.filter(is_active=True).prefetch_related("price_tiers").order_by("sku")
