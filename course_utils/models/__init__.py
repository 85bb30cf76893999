"""Reference models of the course, one module per family.

Import the family you need, e.g. ``from course_utils.models import vgg`` and
call its factory functions (``vgg.vgg11(...)``). Each factory takes the
number of input channels and classes, and the input size where it matters.
"""
