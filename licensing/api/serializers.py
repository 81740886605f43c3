from rest_framework import serializers

from licensing.models import PriceTier, Product


class PriceTierSerializer(serializers.ModelSerializer):
    class Meta:
        model = PriceTier
        fields = ["min_quantity", "unit_price"]


class ProductSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="name_ja", help_text="Japanese product name.")
    price_tiers = PriceTierSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = ["sku", "name", "name_en", "kind", "term_months", "unit", "tax_rate", "price_tiers"]
