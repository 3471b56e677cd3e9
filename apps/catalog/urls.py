from django.urls import path

from apps.catalog import search_views, views

app_name = "catalog"
urlpatterns: list = [
    path("", views.home, name="home"),
    path("search/", search_views.search_page, name="search"),
    # "~" is not a slug character, so these never collide with a product's slug.
    path("d/<slug:domain>/~about/", views.domain_about, name="domain_about"),
    path("d/<slug:domain>/~edit/", views.domain_edit, name="domain_edit"),
    path("d/<slug:domain>/", views.domain_page, name="domain"),
    path("d/<slug:domain>/<slug:product>/about/", views.product_about, name="product_about"),
    path("d/<slug:domain>/<slug:product>/edit/", views.product_edit, name="product_edit"),
    path("d/<slug:domain>/<slug:product>/", views.product_page, name="product"),
    path("datasets/<str:address>/about/", views.dataset_about, name="dataset_about"),
    path("datasets/<str:address>/edit/", views.dataset_edit, name="dataset_edit"),
    path("datasets/<str:address>/columns/<int:pk>/", views.column_row, name="column"),
    path("datasets/<str:address>/columns/<int:pk>/edit/", views.column_edit, name="column_edit"),
    path("datasets/<str:address>/", views.dataset_page, name="dataset"),
]
