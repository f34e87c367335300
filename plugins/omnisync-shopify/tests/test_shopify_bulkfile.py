"""Putting a bulk export's lines back together into orders, whatever state the file is in."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from omnisync_shopify._bulkfile import BulkFile

# An order: how many line items and shipping lines it has.
ORDERS = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1)), min_size=1, max_size=12)


def export_lines(orders: list[tuple[int, int]]) -> list[bytes]:
    """The lines Shopify writes for ``orders``: each order's own, then its items, each item's
    ``__parentId`` last (shopify.dev/docs/api/usage/bulk-operations/queries)."""
    lines = []
    for number, (items, shipping) in enumerate(orders, start=1):
        parent = f"gid://shopify/Order/{number}"
        lines.append({"id": parent, "name": f"#{number}", "note": 'a }" line'})
        for n in range(items):
            lines.append({"id": f"gid://shopify/LineItem/{number}0{n}", "__parentId": parent})
        for n in range(shipping):
            lines.append({"id": f"gid://shopify/ShippingLine/{number}0{n}", "__parentId": parent})
    return [json.dumps(line, separators=(",", ":")).encode() for line in lines]


def read(lines: list[bytes], page: int, indexed: bool = False) -> list[tuple[list, list]]:
    with BulkFile() as export:
        export.file.write(b"\n".join(lines) + b"\n")
        if indexed:  # as a file whose items do not all follow their order is read
            export._grouped = lambda: False
        return list(export.orders(page))


@settings(deadline=None)  # temporary files and databases: a busy machine is slow at them
@given(orders=ORDERS, page=st.integers(1, 5))
def test_each_order_comes_whole_with_its_own_items_a_page_at_a_time(orders, page):
    pages = read(export_lines(orders), page)
    read_back = [order for found, rejects in pages for order in found if not rejects]
    assert [len(found) for found, _ in pages[:-1]] == [page] * (len(pages) - 1)
    assert [order["name"] for order in read_back] == [f"#{n}" for n in range(1, len(orders) + 1)]
    for order, (items, shipping) in zip(read_back, orders, strict=True):
        number = order["name"][1:]
        assert [i["id"].rsplit("/", 1)[1] for i in order["lineItems"]] == [
            f"{number}0{n}" for n in range(items)
        ]
        assert len(order["shippingLines"]) == shipping
        assert all("__parentId" not in item for item in order["lineItems"])


@settings(max_examples=200, deadline=None)
@given(
    orders=ORDERS,
    page=st.integers(1, 5),
    damage=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 80)), max_size=3),
    moved=st.none() | st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)),
    repeated=st.none() | st.integers(0, 10**6),
)
def test_a_file_read_as_it_comes_reads_as_the_index_of_its_lines_would(
    orders, page, damage, moved, repeated
):
    """Lines cut short anywhere, one line moved elsewhere, a line written twice: read straight
    through when every item still follows its order and no order comes twice, through the
    on-disk index otherwise, the same orders and the same rejections come out."""
    lines = export_lines(orders)
    if repeated is not None:
        lines.append(lines[repeated % len(lines)])
    for at, keep in damage:
        n = at % len(lines)
        lines[n] = lines[n][:keep]
    if moved is not None:
        lines.insert(moved[1] % len(lines), lines.pop(moved[0] % len(lines)))
    assert read(lines, page) == read(lines, page, indexed=True)
