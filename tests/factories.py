import factory
from django.contrib.auth.models import Group

from apps.accounts.models import User
from apps.catalog.models import Column, DataProduct, Dataset
from apps.domains.models import Backend, Domain, Sensitivity


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("correct-horse-battery")


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"group{n}")


class DomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Domain
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"domain{n}")
    name = factory.LazyAttribute(lambda d: d.slug.upper())
    sensitivity = Sensitivity.OPEN


class BackendFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Backend

    domain = factory.SubFactory(DomainFactory)
    slug = factory.Sequence(lambda n: f"db{n}")
    kind = Backend.Kind.SQLITE
    url = "/nonexistent.sqlite3"


class DataProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataProduct

    domain = factory.SubFactory(DomainFactory)
    slug = factory.Sequence(lambda n: f"product{n}")
    name = factory.LazyAttribute(lambda p: p.slug.title())


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    domain = factory.SubFactory(DomainFactory)
    table_name = factory.Sequence(lambda n: f"table{n}")
    name = factory.LazyAttribute(lambda d: d.table_name)
    address = factory.LazyAttribute(lambda d: f"{d.domain.slug}.db.{d.table_name}")
    sensitivity = factory.LazyAttribute(lambda d: d.domain.sensitivity)


class ColumnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Column

    dataset = factory.SubFactory(DatasetFactory)
    name = factory.Sequence(lambda n: f"col{n}")
    data_type = "INTEGER"
    logical_type = Column.LogicalType.INTEGER
