from django.core.management.base import BaseCommand, CommandError

from licensing.models import ApiToken, Customer


class Command(BaseCommand):
    help = "Create an API token for a customer and print it (alone, on the last line). Only its hash is stored."

    def add_arguments(self, parser):
        parser.add_argument("customer_code")
        parser.add_argument("--name", default="issued by manage.py", help="Which system will use the token.")

    def handle(self, *args, customer_code, name, **options):
        customer = Customer.objects.filter(code=customer_code).first()
        if customer is None:
            raise CommandError(f"There is no customer with code {customer_code!r}.")
        if not customer.is_active:
            raise CommandError(f"Customer {customer_code} is inactive; its tokens would be refused.")
        token, raw_key = ApiToken.objects.issue(customer=customer, name=name)
        self.stdout.write(f"Token {token.prefix}… for {customer.code} ({customer.name}). It is shown only now:")
        self.stdout.write(raw_key)
