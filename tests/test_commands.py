"""Operations commands: seed_demo and issue_token."""

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from licensing.models import ApiToken, Customer, Product

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_covers_the_demo_cases(capsys):
    call_command("seed_demo")
    call_command("seed_demo")

    assert Product.objects.filter(sku="SRA-1Y", kind="base").exists()
    rda = Product.objects.get(sku="RDA-1Y")
    assert rda.kind == "addon" and rda.base_family == "SRA"
    # RDA runs on secure remote access of either term: both SRA products are of the family it counts against.
    assert set(Product.objects.filter(family="SRA", kind="base").values_list("sku", flat=True)) == {"SRA-1Y", "SRA-3Y"}
    assert rda.price_tiers.count() >= 2
    assert Product.objects.filter(sku="SRA-1Y").count() == 1
    demo1, demo2 = Customer.objects.get(code="DEMO1"), Customer.objects.get(code="DEMO2")
    assert not demo1.manual_approval and demo1.credit_limit >= 300 * 9000
    assert not demo2.manual_approval
    assert Customer.objects.filter(manual_approval=True).exists()
    assert Customer.objects.filter(credit_limit__lt=200_000).exists()
    for role in ["sales", "order_desk", "helper", "manager"]:
        assert User.objects.get(username=role).groups.filter(name=role).exists()


def test_issue_token_prints_a_working_token_on_the_last_line_and_stores_only_its_hash(capsys):
    call_command("seed_demo")
    capsys.readouterr()

    call_command("issue_token", "DEMO1")

    raw_key = capsys.readouterr().out.strip().splitlines()[-1]
    token = ApiToken.objects.get(customer__code="DEMO1")
    assert raw_key not in (token.key_hash, token.prefix) and len(token.key_hash) == 64
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
    assert client.get("/api/v1/orders/").status_code == 200


def test_issue_token_for_an_unknown_customer_fails_clearly():
    with pytest.raises(CommandError, match="NOBODY"):
        call_command("issue_token", "NOBODY")
