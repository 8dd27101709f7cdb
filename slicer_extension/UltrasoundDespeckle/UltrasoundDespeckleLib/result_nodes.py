"""Where a despeckling result lives in the scene, so that re-running does not pile up nodes.

A result is recognised by its node references and attributes (saved with the scene): the input it
was made from (reference role :data:`SOURCE_ROLE`) and the method (attribute :data:`METHOD_ATTRIBUTE`).
Running the same method on the same input again reuses that result: its voxels (or its sequence's
items) are replaced, and node IDs, names, display settings and the views that show it stay. Next to
each result the scene keeps a hidden copy of the full-strength output (reference role
:data:`FULL_STRENGTH_ROLE`), from which :mod:`.strength` blends without re-running the method.

For a cine the result is the output *sequence* (a proxy node's attributes are overwritten by the
browser at every frame); its proxy is what the views show.
"""

from __future__ import annotations

import slicer
import vtk

from UltrasoundDespeckleLib.sequences import nodes_of_class

METHOD_ATTRIBUTE = "UltrasoundDespeckle.Method"
SOURCE_ATTRIBUTE = "UltrasoundDespeckle.SourceNodeID"
DERIVATION_ATTRIBUTE = "UltrasoundDespeckle.Derivation"
MASK_ATTRIBUTE = "UltrasoundDespeckle.Mask"
ROLE_ATTRIBUTE = "UltrasoundDespeckle.Role"
RESULT_ROLE = "result"
FULL_STRENGTH = "full strength"
SOURCE_ROLE = "UltrasoundDespeckle.Source"
FULL_STRENGTH_ROLE = "UltrasoundDespeckle.FullStrength"


def mark_result(node: vtk.vtkObject, source: vtk.vtkObject, method: str, derivation: str) -> None:
    """Record on ``node`` that it is the result of ``method`` on ``source``."""
    node.SetAttribute(ROLE_ATTRIBUTE, RESULT_ROLE)
    node.SetAttribute(METHOD_ATTRIBUTE, method)
    node.SetAttribute(SOURCE_ATTRIBUTE, source.GetID() or "")
    node.SetAttribute(DERIVATION_ATTRIBUTE, derivation)
    node.SetNodeReferenceID(SOURCE_ROLE, source.GetID())


def is_result(node: vtk.vtkObject | None) -> bool:
    """Whether ``node`` is a result made by this module."""
    return node is not None and node.GetAttribute(ROLE_ATTRIBUTE) == RESULT_ROLE


def source_of(node: vtk.vtkObject) -> vtk.vtkObject | None:
    """The input a result was made from."""
    return node.GetNodeReference(SOURCE_ROLE)


def full_strength_of(node: vtk.vtkObject) -> vtk.vtkObject | None:
    """The hidden full-strength copy of a result."""
    return node.GetNodeReference(FULL_STRENGTH_ROLE)


def find_result(
    scene: vtk.vtkObject, source: vtk.vtkObject, method: str, class_name: str = "vtkMRMLScalarVolumeNode"
) -> vtk.vtkObject | None:
    """The result of ``method`` on ``source`` already in the scene (a node of ``class_name``), if any."""
    for node in nodes_of_class(scene, class_name):
        if is_result(node) and node.GetAttribute(METHOD_ATTRIBUTE) == method and source_of(node) is source:
            return node
    return None


def store_full_strength(scene: vtk.vtkObject, result: vtk.vtkObject, copy: vtk.vtkObject) -> None:
    """Make ``copy`` (a filled node not yet in the scene) the hidden full-strength copy of ``result``.

    The previous copy, if any, is removed from the scene.
    """
    previous = full_strength_of(result)
    copy.SetName(f"{result.GetName()} [full strength]")
    copy.SetHideFromEditors(True)
    copy.SetAttribute(ROLE_ATTRIBUTE, FULL_STRENGTH)
    scene.AddNode(copy)
    result.SetNodeReferenceID(FULL_STRENGTH_ROLE, copy.GetID())
    if previous is not None and previous is not copy:
        remove_node(scene, previous)


def remove_node(scene: vtk.vtkObject, node: vtk.vtkObject) -> None:
    """Remove ``node`` with the display and storage nodes that only it uses."""
    helpers = []
    if node.IsA("vtkMRMLDisplayableNode"):
        helpers += [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
    if node.IsA("vtkMRMLStorableNode"):
        helpers += [node.GetNthStorageNode(i) for i in range(node.GetNumberOfStorageNodes())]
    scene.RemoveNode(node)
    for helper in helpers:
        if helper is not None and helper.GetScene() is scene:
            scene.RemoveNode(helper)


def place_beside(scene: vtk.vtkObject, node: vtk.vtkObject, reference: vtk.vtkObject) -> None:
    """Put ``node`` in the subject hierarchy under the parent of ``reference`` (its patient / study)."""
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if hierarchy is None:
        return
    invalid = slicer.vtkMRMLSubjectHierarchyNode.GetInvalidItemID()
    reference_item = hierarchy.GetItemByDataNode(reference)
    parent = hierarchy.GetItemParent(reference_item) if reference_item != invalid else invalid
    if parent == invalid:
        parent = hierarchy.GetSceneItemID()
    item = hierarchy.GetItemByDataNode(node)
    if item == invalid:
        hierarchy.CreateItem(parent, node)
    elif hierarchy.GetItemParent(item) != parent:
        hierarchy.SetItemParent(item, parent)
