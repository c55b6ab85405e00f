"""The 2.0 documentation's "Storage-capable engine" story, on SQLAlchemy 2.

The models, engine subclass and tasks follow the 2.0 example (written for
SQLAlchemy 2: ``DeclarativeBase``, no bound metadata, no subtransactions),
and the story prints the same lines as that page.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, create_engine, select
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    mapped_column,
    relationship,
    sessionmaker,
)

from workflow.engine import ProcessingFactory, TransitionActions
from workflow.engine_db import DbWorkflowEngine
from workflow.errors import HaltProcessing
from workflow.patterns.controlflow import HALT, IF
from workflow.utils import staticproperty

EXPECTED = """\
Testing grade #1, with data 6
Testing grade #2, with data 5
Testing grade #3, with data 4
The student has failed this test!

What Zak sees: [6, 5, 4, 5, 2, 6]
Note how the engine resumes from the last failing test:
Testing grade #3, with data 4
Amending this grade..
Testing grade #4, with data 5
Testing grade #5, with data 2
Amending this grade..
Testing grade #6, with data 6

What the professor sees: [6, 5, 5, 5, 5, 6]
"""


def run_story(url):
    engine = create_engine(url)
    session = sessionmaker(bind=engine)()

    class Base(DeclarativeBase):
        pass

    class Workflow(Base):
        __tablename__ = "workflow"
        id: Mapped[int] = mapped_column(primary_key=True)
        state_token_pos: Mapped[int] = mapped_column(default=-1)
        grades: Mapped[list[Grade]] = relationship(
            back_populates="workflow", cascade="all, delete, delete-orphan"
        )

        def save(self, token_pos):
            """Save the position of the workflow."""
            self.state_token_pos = token_pos
            try:
                session.add(self)
                session.commit()
            except Exception:
                session.rollback()
                raise

    class Grade(Base):
        __tablename__ = "grade"
        id: Mapped[int] = mapped_column(primary_key=True)
        data: Mapped[int] = mapped_column(default=0)
        user_id: Mapped[int] = mapped_column(ForeignKey("workflow.id"), nullable=True)
        workflow: Mapped[Workflow] = relationship(back_populates="grades")

        def __init__(self, grade):
            self.data = grade
            session.add(self)

    Base.metadata.create_all(engine)

    class MyDbWorkflowEngine(DbWorkflowEngine):
        def __init__(self, db_obj):
            token_pos = db_obj.state_token_pos
            self.db_obj = db_obj
            super(DbWorkflowEngine, self).__init__()
            if token_pos is not None:
                self.state.token_pos = token_pos
            self.save()

        def save(self, token_pos=None):
            if token_pos is not None:
                self.state.token_pos = token_pos
            self.db_obj.save(self.state.token_pos)

        @staticproperty
        def processing_factory():
            return MyProcessingFactory

    class MyProcessingFactory(ProcessingFactory):
        @staticproperty
        def transition_exception_mapper():
            return MyTransitionActions

        @staticmethod
        def before_processing(eng, objects):
            if not eng.db_obj.grades:
                for obj in objects:
                    eng.db_obj.grades.append(obj)

        @staticmethod
        def after_processing(eng, objects):
            eng.save()

    class MyTransitionActions(TransitionActions):
        @staticmethod
        def HaltProcessing(obj, eng, callbacks, exc_info):
            eng.save()
            raise exc_info[1]

    my_workflow_instance = Workflow()
    my_db_engine = MyDbWorkflowEngine(my_workflow_instance)

    def grade_is_not_passing(obj, eng):
        print(f"Testing grade #{obj.id}, with data {obj.data}")
        return obj.data < 5

    callbacks = [IF(grade_is_not_passing, [HALT()])]
    my_db_engine.callbacks.replace(callbacks)
    try:
        my_db_engine.process(
            [Grade(6), Grade(5), Grade(4), Grade(5), Grade(2), Grade(6)]
        )
    except HaltProcessing:
        print("The student has failed this test!")

    def amend_grade(obj, eng):
        print("Amending this grade..")
        obj.data = 5

    evil_callbacks = [IF(grade_is_not_passing, [amend_grade])]
    revived_workflow = session.scalars(select(Workflow)).one()
    my_db_engine = MyDbWorkflowEngine(revived_workflow)
    print("\nWhat Zak sees:", [grade.data for grade in revived_workflow.grades])
    my_db_engine.callbacks.replace(evil_callbacks)
    print("Note how the engine resumes from the last failing test:")
    my_db_engine.restart("current", "first", objects=revived_workflow.grades)

    # The professor logs in later, through a session of their own.
    professor_session = sessionmaker(bind=engine)()
    revived_workflow = professor_session.scalars(select(Workflow)).one()
    print(
        "\nWhat the professor sees:",
        [grade.data for grade in revived_workflow.grades],
    )
    professor_session.close()
    session.close()
    engine.dispose()


def test_the_grades_story_prints_what_the_2_0_docs_show(capsys, tmp_path):
    run_story(f"sqlite:///{tmp_path / 'grades.db'}")
    assert capsys.readouterr().out == EXPECTED


def test_the_grades_story_works_in_memory_as_in_the_2_0_docs(capsys):
    run_story("sqlite://")
    assert capsys.readouterr().out == EXPECTED
