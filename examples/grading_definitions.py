"""The ``grading`` definition that the Celery workers of ``celery_app`` run.

Every worker imports this module (through ``celery_app``), so that the name
``grading`` means the same tasks on every machine. See ``docs/celery.rst``.
"""

from workflow.storage import registry

LOWEST_PLAIN_GRADE = 4


def check(obj, eng):
    """Halt on a low grade: a person has to look at it first."""
    if obj.data["grade"] < LOWEST_PLAIN_GRADE:
        eng.halt("needs a human look")


def record(obj, eng):
    """Mark the grade as recorded (a real project would store it somewhere)."""
    obj.data["recorded"] = True


registry.register("grading", [check, record])
