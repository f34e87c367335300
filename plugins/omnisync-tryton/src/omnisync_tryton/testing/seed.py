"""Seed a fresh Tryton database for omnisync's tests (run with the Tryton server's Python).

Usage: python seed.py CONFIG_FILE DATABASE

A company in USD with a minimal chart of accounts and a fiscal year, EUR beside it (with
rates, so sales in either currency are processed), a saved payment term, an accounting
category for goods that charges a 20 % customer tax, a service product for shipping charges
("SHIPPING") in a category without tax, and default revenue and expense accounts for lines
without a product.
"""

import datetime as dt
import sys
from decimal import Decimal

from proteus import Model, config
from trytond.modules.account.tests.tools import (
    create_chart,
    create_fiscalyear,
    create_tax,
    get_accounts,
)
from trytond.modules.account_invoice.tests.tools import (
    create_payment_term,
    set_fiscalyear_invoice_sequences,
)
from trytond.modules.company.tests.tools import create_company, get_company

config_file, database = sys.argv[1], sys.argv[2]
config.set_trytond(database=database, config_file=config_file)

Currency = Model.get("currency.currency")
(usd,) = Currency.find([("code", "=", "USD")]) or [None]
if usd is None:
    usd = Currency(name="US Dollar", code="USD", symbol="$", rounding=Decimal("0.01"), digits=2)
    usd.save()
create_company(currency=usd)
company = get_company()
create_chart(company)
fiscalyear = set_fiscalyear_invoice_sequences(create_fiscalyear(company))
fiscalyear.click("create_period")
accounts = get_accounts(company)

(eur,) = Currency.find([("code", "=", "EUR")]) or [None]
if eur is None:
    eur = Currency(name="Euro", code="EUR", symbol="€", rounding=Decimal("0.01"), digits=2)
    eur.save()
Rate = Model.get("currency.currency.rate")
start = dt.date(2000, 1, 1)
Rate(currency=usd, date=start, rate=Decimal("1")).save()
Rate(currency=eur, date=start, rate=Decimal("0.9")).save()

create_payment_term().save()

vat = create_tax(Decimal("0.20"))
vat.save()

Category = Model.get("product.category")
goods = Category(name="Goods", accounting=True)
goods.account_revenue = accounts["revenue"]
goods.account_expense = accounts["expense"]
goods.customer_taxes.append(vat)
goods.save()
# What lines without a product (a tip, a custom item) are invoiced against.
AccountConfiguration = Model.get("account.configuration")
account_configuration = AccountConfiguration(1)
account_configuration.default_category_account_revenue = accounts["revenue"]
account_configuration.default_category_account_expense = accounts["expense"]
account_configuration.save()

services = Category(name="Services", accounting=True)
services.account_revenue = accounts["revenue"]
services.account_expense = accounts["expense"]
services.save()

Uom = Model.get("product.uom")
(unit,) = Uom.find([("name", "=", "Unit")])
Template = Model.get("product.template")
shipping = Template(
    name="Shipping",
    code="SHIPPING",
    type="service",
    salable=True,
    default_uom=unit,
    list_price=Decimal("0"),
    account_category=services,
)
shipping.save()
print("seeded", database, company.rec_name)
