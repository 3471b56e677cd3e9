from django.urls import path

from apps.synth import apis

urlpatterns = [
    path("synth/synthesizers/", apis.SynthesizerListApi.as_view(), name="api-synth-synthesizers"),
    path("synth/cost/", apis.SynthCostApi.as_view(), name="api-synth-cost"),
    path("synth/jobs/", apis.SynthJobListApi.as_view(), name="api-synth-jobs"),
    path("synth/jobs/<int:pk>/", apis.SynthJobDetailApi.as_view(), name="api-synth-job"),
    path("synth/jobs/<int:pk>/cancel/", apis.SynthJobCancelApi.as_view(), name="api-synth-job-cancel"),
    path("synth/jobs/<int:pk>/sample.csv", apis.SynthSampleCsvApi.as_view(), name="api-synth-sample-csv"),
    path("synth/jobs/<int:pk>/sample.parquet", apis.SynthSampleParquetApi.as_view(), name="api-synth-sample-parquet"),
    path("synth/datasets/<str:address>/preview/", apis.DatasetPreviewApi.as_view(), name="api-synth-dataset-preview"),
]
