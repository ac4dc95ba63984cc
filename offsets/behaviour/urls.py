from django.urls import path

from offsets.behaviour import api

app_name = "behaviour"

urlpatterns = [
    path("api/behaviour/v1/openapi.json", api.openapi, name="openapi"),
    path("api/behaviour/v1/batches/<str:batch_id>", api.batch, name="api_batch"),
    path("api/behaviour/v1/batches/<str:batch_id>/rejected", api.rejected, name="api_rejected"),
]
