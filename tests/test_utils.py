"""``workflow.utils``: ``classproperty`` and ``staticproperty`` (SPEC 3)."""

from __future__ import annotations

from workflow.utils import classproperty, staticproperty


class Base:
    @classproperty
    def kind(cls):
        """The class's name."""
        return cls.__name__

    @staticproperty
    def constant():
        """Always 42."""
        return 42


class Child(Base):
    pass


class Override(Base):
    @classproperty
    def kind(cls):
        """Overridden."""
        return "override"


def test_classproperty_on_the_class_gets_the_class():
    assert (Base.kind, Child.kind) == ("Base", "Child")


def test_classproperty_on_an_instance_gets_its_class():
    assert (Base().kind, Child().kind) == ("Base", "Child")


def test_classproperty_is_overridden_by_redefining_it():
    assert (Override.kind, Override().kind) == ("override", "override")


def test_classproperty_called_without_owner_uses_the_instance_class():
    assert Base.__dict__["kind"].__get__(Child()) == "Child"


def test_staticproperty_on_class_and_instance():
    assert (Base.constant, Base().constant, Child.constant) == (42, 42, 42)


def test_properties_keep_name_and_doc():
    kind = Base.__dict__["kind"]
    constant = Base.__dict__["constant"]
    assert (kind.__name__, kind.__doc__) == ("kind", "The class's name.")
    assert (constant.__name__, constant.__doc__) == ("constant", "Always 42.")


def test_property_of_a_nameless_callable_is_named_after_the_descriptor():
    class Getter:
        """A callable without __name__."""

        def __call__(self, *args):
            return len(args)

    assert classproperty(Getter()).__name__ == "classproperty"
    assert staticproperty(Getter()).__name__ == "staticproperty"

    class Owner:
        count_class = classproperty(Getter())
        count_static = staticproperty(Getter())

    assert (Owner.count_class, Owner().count_static) == (1, 0)
