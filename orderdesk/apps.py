from django.apps import AppConfig


class OrderdeskConfig(AppConfig):
    name = "orderdesk"
    verbose_name = "Orderdesk"
