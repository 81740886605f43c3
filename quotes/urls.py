from django.urls import path

from quotes import views

app_name = "quotes"
urlpatterns = [
    path("", views.quote_list, name="list"),
    path("new/", views.quote_new, name="new"),
    path("approvals/", views.approval_queue, name="approvals"),
    path("price/", views.quote_price_preview, name="price"),
    path("line-row/", views.quote_line_row, name="line_row"),
    path("customers/", views.customer_options, name="customer_options"),
    path("<str:number>/", views.quote_detail, name="detail"),
    path("<str:number>/edit/", views.quote_edit, name="edit"),
    path("<str:number>/quote.pdf", views.quote_pdf, name="pdf"),
    path("<str:number>/submit/", views.quote_submit_view, name="submit"),
    path("<str:number>/approve/", views.quote_approve_view, name="approve"),
    path("<str:number>/return/", views.quote_return_view, name="return"),
    path("<str:number>/send/", views.quote_send_view, name="send"),
    path("<str:number>/email-again/", views.quote_email_again_view, name="email_again"),
    path("<str:number>/revise/", views.quote_revise_view, name="revise"),
    path("<str:number>/decline/", views.quote_decline_view, name="decline"),
]
