"""Scale-down: which nodes to disrupt, by which method, and the state each removal carries.

:mod:`.controller` runs one pass: it finds the unneeded nodes, then tries the methods of
:mod:`.methods` in order; the first that proposes something acts, alone, in that pass.
Each method is a module of its own behind the :class:`.method.Method` protocol.
"""
