from django.urls import path

from orders import views

app_name = "orders"

urlpatterns = [
    path("", views.backlog, name="backlog"),
    path("next/", views.backlog_next, name="next"),
    path("bulk/", views.backlog_bulk, name="bulk"),
    path("<str:number>/", views.order_detail, name="detail"),
    path("<str:number>/quote.pdf", views.order_quote_pdf, name="quote_pdf"),
    path("<str:number>/claim/", views.order_claim, name="claim"),
    path("<str:number>/release/", views.order_release, name="release"),
    path("<str:number>/approve/", views.order_approve, name="approve"),
    path("<str:number>/reject/", views.order_reject, name="reject"),
    path("<str:number>/retry/", views.order_retry, name="retry"),
    path("<str:number>/cancel/", views.order_cancel, name="cancel"),
    path("<str:number>/edit/", views.order_edit, name="edit"),
    path("<str:number>/keep-one/", views.order_keep_one, name="keep_one"),
]
