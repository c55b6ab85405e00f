"""The exam-grading story of the workflow 2.0 documentation, as a definition.

A student takes six tests in one day; the system checks the grades in
order. A failing grade (below 5) halts the workflow: the student has to
take that test again, and the checking resumes from there afterwards.

Run it over the grades of ``grades.jsonl`` (one JSON object per line)::

    workflow run examples/grades.py:workflow --data examples/grades.jsonl

It halts on the third grade (a 4). ``workflow resume UUID`` goes on with the
next grades, halting again on the fifth (a 2); a second resume completes it.
"""

from workflow.patterns.controlflow import IF

PASSING_GRADE = 5


def grade_is_not_passing(obj, eng):
    """Tell whether the object's grade fails the test."""
    return obj.data["grade"] < PASSING_GRADE


def ask_for_retake(obj, eng):
    """Halt: the failed test has to be taken again the next day."""
    exam = obj.data
    eng.halt(
        f"{exam['student']} failed test {exam['test']} with {exam['grade']}:"
        " retake it tomorrow",
        action="retake",
    )


workflow = [
    IF(grade_is_not_passing, [ask_for_retake]),
]
