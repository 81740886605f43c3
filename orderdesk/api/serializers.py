"""Serializer plumbing shared by the API apps."""

import copy

from rest_framework import serializers


class FieldCachingModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer, introspecting its model once per class instead of once per use.

    DRF builds a ModelSerializer's fields from the model's fields every time one
    is instantiated, and answering a submitted order instantiates two: that
    introspection was the largest CPU cost of the order intake. The fields it
    builds depend only on the class (Meta and declared fields), so they are
    built once and deep-copied per instance, which is what DRF does for the
    declared fields of every serializer anyway.
    """

    def get_fields(self):
        cls = type(self)
        if "_built_fields" not in cls.__dict__:
            cls._built_fields = super().get_fields()
        return copy.deepcopy(cls._built_fields)
