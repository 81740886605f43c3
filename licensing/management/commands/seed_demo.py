"""Demo catalog, customers and staff. Safe to run again: it updates what exists."""

from datetime import date, time

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction

from licensing.models import ClosedPeriod, Customer, PriceTier, Product, WorkHoursPolicy

PRODUCTS = [
    {
        "sku": "SRA-1Y",
        "family": "SRA",
        "name_ja": "セキュアリモートアクセス 1年ライセンス",
        "name_en": "Secure Remote Access, 1-year license",
        "kind": Product.Kind.BASE,
        "tiers": [(1, 6000), (50, 5400), (100, 4800), (500, 4200)],
    },
    {
        "sku": "RDA-1Y",
        "family": "RDA",
        "name_ja": "リモートデスクトップ アドオン 1年ライセンス",
        "name_en": "Remote Desktop add-on, 1-year license",
        "kind": Product.Kind.ADDON,
        # Runs on secure remote access, whichever term its seats were bought for (SRA-1Y or SRA-3Y).
        "base_family": "SRA",
        "tiers": [(1, 3000), (50, 2700), (100, 2400), (500, 2100)],
    },
    {
        "sku": "SRA-3Y",
        "family": "SRA",
        "name_ja": "セキュアリモートアクセス 3年ライセンス",
        "name_en": "Secure Remote Access, 3-year license",
        "kind": Product.Kind.BASE,
        "term_months": 36,
        "tiers": [(1, 16200), (50, 14580), (100, 12960)],
    },
    {
        # Discontinued: kept so old orders still show it, and so the demo has an inactive SKU.
        "sku": "VPN-LEGACY",
        "family": "VPN",
        "name_ja": "旧VPNクライアント 1年ライセンス（販売終了）",
        "name_en": "Legacy VPN client, 1-year license (discontinued)",
        "kind": Product.Kind.BASE,
        "is_active": False,
        "tiers": [(1, 4000)],
    },
]

# (code, name, honorific, credit limit in yen, manual approval)
CUSTOMERS = [
    ("DEMO1", "株式会社サンプル商事", Customer.Honorific.COMPANY, 5_000_000, False),
    ("DEMO2", "テレワーク工業株式会社", Customer.Honorific.COMPANY, 5_000_000, False),
    ("SMALLCO", "有限会社スモール（与信枠小）", Customer.Honorific.COMPANY, 100_000, False),
    ("MANUAL", "公益財団法人マニュアル承認", Customer.Honorific.COMPANY, 20_000_000, True),
    ("YAMADA", "山田 太郎", Customer.Honorific.PERSON, 300_000, False),
]

ROLES = ["sales", "order_desk", "helper", "manager"]
DEMO_PASSWORD = "orderdesk-demo"


class Command(BaseCommand):
    help = "Load the demo catalog, customers and one staff user per role (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        self._products()
        self._customers()
        self._work_hours_policies()
        self._staff()
        self.stdout.write(self.style.SUCCESS(f"Demo data ready. Staff users {', '.join(ROLES)} and admin, password {DEMO_PASSWORD!r}."))

    def _products(self):
        for spec in PRODUCTS:
            product, _ = Product.objects.update_or_create(
                sku=spec["sku"],
                defaults={
                    "name_ja": spec["name_ja"],
                    "name_en": spec["name_en"],
                    "kind": spec["kind"],
                    "term_months": spec.get("term_months", 12),
                    "unit": spec.get("unit", "ユーザー"),
                    "tax_rate": spec.get("tax_rate", Product.TaxRate.STANDARD),
                    "is_active": spec.get("is_active", True),
                    "family": spec["family"],
                    "base_family": spec.get("base_family", ""),
                },
            )
            for min_quantity, unit_price in spec["tiers"]:
                PriceTier.objects.update_or_create(
                    product=product, min_quantity=min_quantity, defaults={"unit_price": unit_price}
                )

    def _customers(self):
        for code, name, honorific, credit_limit, manual in CUSTOMERS:
            Customer.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "honorific": honorific,
                    "credit_limit": credit_limit,
                    "manual_approval": manual,
                    "billing_email": f"purchasing@{code.lower()}.example.jp",
                    "address": "東京都港区芝公園4-2-8",
                },
            )

    def _work_hours_policies(self):
        # DEMO2 shows 労務管理: license use outside weekday office hours, on Japanese public
        # holidays and during the company's year-end and summer breaks is warned about.
        demo2 = Customer.objects.get(code="DEMO2")
        for name, first_day, last_day in (("年末年始", date(2026, 12, 29), date(2027, 1, 3)), ("お盆", date(2026, 8, 13), date(2026, 8, 16))):
            ClosedPeriod.objects.get_or_create(
                customer=demo2, name=name, defaults={"first_day": first_day, "last_day": last_day, "every_year": True}
            )
        WorkHoursPolicy.objects.update_or_create(
            customer=demo2,
            defaults={
                "mode": WorkHoursPolicy.Mode.WARN,
                "time_zone": "Asia/Tokyo",
                "working_days": [1, 2, 3, 4, 5],
                "start_time": time(9, 0),
                "end_time": time(18, 0),
                "public_holidays": "JP",
                "is_active": True,
            },
        )

    def _staff(self):
        for role in ROLES:
            group, _ = Group.objects.get_or_create(name=role)
            user, created = User.objects.get_or_create(username=role)
            if created:
                user.set_password(DEMO_PASSWORD)
            user.is_staff = False  # roles work on the staff pages; /admin/ is for superusers (orderdesk.roles)
            user.save()
            user.groups.add(group)
        admin, created = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save()
