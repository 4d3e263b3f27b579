"""Pages of the learnings library (the API is in ``learnings.urls``), and concluding an
experiment, which records its learning."""

from django.urls import path

from learnings.views import areas, conclude, insights, learning, search, synonyms

app_name = "learnings_web"

urlpatterns = [
    path("learnings/", search.learning_search, name="search"),
    path("learnings/new", learning.learning_new, name="create"),
    path("learnings/meta-analysis", insights.meta, name="meta"),
    path("learnings/tried-before", insights.tried_before, name="tried-before"),
    path("learnings/areas/", areas.areas, name="areas"),
    path("learnings/synonyms", synonyms.synonyms, name="synonyms"),
    path("learnings/areas/new", areas.area_create, name="area-create"),
    path("learnings/areas/<int:area_id>/rename", areas.area_rename, name="area-rename"),
    path("learnings/areas/<int:area_id>/merge", areas.area_merge, name="area-merge"),
    path("learnings/areas/<int:area_id>/delete", areas.area_delete, name="area-delete"),
    path("learnings/<int:learning_id>/", learning.learning_detail, name="detail"),
    path("learnings/<int:learning_id>/edit", learning.learning_edit, name="edit"),
    path("learnings/<int:learning_id>/effects", learning.effect_override, name="effect-override"),
    path("experiments/<slug:key>/conclude", conclude.conclude, name="conclude"),
    path(
        "experiments/<slug:key>/learning", learning.experiment_learning, name="experiment-learning"
    ),
]
