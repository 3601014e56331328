"""Seed a fresh hotdeal with one of everything, so the fuzzer reaches past 404s: an approved
company, products with a time sale, an open coupon campaign, and for the customer an address, a
basket line, a coupon, orders (created, pending payment, paid) and a review. Then write a
schemathesis config binding the path, query and body ids of the operations to the seeded ids
(half of the time; random ids the other half).

Usage: BASE MASTER_TOKEN CUSTOMER_TOKEN CONFIG_OUT"""

import base64
import datetime
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

base, master, customer, config_out = sys.argv[1:5]


def call(method, path, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def data(expected, method, path, token, body=None):
    status, raw = call(method, path, token, body)
    if status != expected:
        sys.exit(f"seeding: {method} {path} answered {status}: {raw[:300]!r}")
    return json.loads(raw)["data"] if raw else None


def rfc3339(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


now = datetime.datetime.now(datetime.timezone.utc)
company = data(201, "POST", "/api/v1/companies", master, {
    "businessRegistrationNumber": 1234567890, "companyPhoneNumber": 821012345678,
    "brandName": "Fuzz Goods", "companyEmail": "shop@fuzz.example"})["companyId"]
data(200, "PATCH", f"/api/v1/companies/{company}/status", master, {"status": "APPROVED"})
products = []
for name in ("kettle", "lamp"):
    products.append(data(201, "POST", "/api/v1/products", master, {
        "name": name, "price": 20000, "quantity": 1000, "category": "KITCHEN",
        "companyId": company, "thumbImg": "https://img.fuzz.example/a.png",
        "detailImgs": ["https://img.fuzz.example/b.png"]})["productId"])
promotion = data(201, "POST", "/api/v1/promotions", master, {
    "productId": products[1], "start": rfc3339(now + datetime.timedelta(hours=1)),
    "end": rfc3339(now + datetime.timedelta(hours=2)), "discountPrice": 10000, "quantity": 10})["promotionId"]
campaign = data(201, "POST", "/api/v1/coupon-infos", master, {
    "name": "fuzz coupon", "quantity": 1000, "couponType": "FIRST_COME_FIRST_SERVE",
    "discountAmount": 1000, "minOrderAmount": 0,
    "expirationDate": (now + datetime.timedelta(days=30)).strftime("%Y-%m-%d")})["couponId"]
data(200, "PATCH", f"/api/v1/coupon-infos/{campaign}/status", master, {"status": "ISSUED"})

address = data(201, "POST", "/api/v1/address", customer, {
    "zipNum": "04524", "city": "Seoul", "district": "Jung-gu", "streetName": "Sejong-daero",
    "streetNum": "110", "detailAddr": "1F"})["addressId"]
basket = data(201, "POST", "/api/v1/baskets", customer, {"productId": products[0], "quantity": 2})["basketId"]
coupon = data(201, "POST", "/api/v1/coupons/issue", customer, {"couponInfoId": campaign})["couponId"]


def order(coupon_id=None):
    body = {"items": [{"productId": products[0], "quantity": 1}], "addressId": address}
    if coupon_id:
        body["couponId"] = coupon_id
    return data(201, "POST", "/api/v1/orders", customer, body)["orderId"]


orders = [order(), order()]
data(201, "POST", "/api/v1/payments", customer, {"orderId": orders[1]})
orders.append(order(coupon))
ready = data(201, "POST", "/api/v1/payments", customer, {"orderId": orders[2]})
success = urllib.parse.urlsplit(ready["nextRedirectPcUrl"])
status, raw = call("GET", f"{success.path}?{success.query}", customer)
if status != 200:
    sys.exit(f"seeding: the payment success page answered {status}: {raw[:300]!r}")
review = data(201, "POST", "/api/v1/reviews", customer, {
    "orderId": orders[2], "productId": products[0], "rating": 4.5, "review": "fine kettle"})["reviewId"]
payments = [p["paymentId"] for p in data(200, "GET", "/api/v1/payments", customer)["content"]]


def user_of(token):
    claims = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["userId"]


ids = {
    "company": [company], "product": products, "promotion": [promotion], "campaign": [campaign],
    "coupon": [coupon], "address": [address], "basket": [basket], "order": orders,
    "payment": payments, "review": [review], "user": [user_of(master), user_of(customer)],
}
# (path regex, parameter, id kind)
bindings = [
    (r"^/api/v1/(products|admin/items)/\{id\}", "path.id", "product"),
    (r"^/api/v1/promotions/\{id\}", "path.id", "promotion"),
    (r"^/api/v1/companies/\{id\}", "path.id", "company"),
    (r"^/api/v1/(coupon-infos|admin/campaigns)/\{id\}", "path.id", "campaign"),
    (r"^/api/v1/coupons/\{id\}", "path.id", "coupon"),
    (r"^/api/v1/orders/\{id\}", "path.id", "order"),
    (r"^/api/v1/baskets/\{id\}", "path.id", "basket"),
    (r"^/api/v1/payments/\{id\}", "path.id", "payment"),
    (r"^/api/v1/reviews/\{id\}", "path.id", "review"),
    (r"^/api/v1/address(-default)?/\{address_id\}", "path.address_id", "address"),
    (r"^/api/v1/users/\{user_id\}", "path.user_id", "user"),
    (r"^(/api/v1/payments/(refund|cancel)|/payment/)", "query.orderId", "order"),
    (r"^/api/v1/(payments|reviews)$", "body.orderId", "order"),
    (r"^/api/v1/(baskets|orders|promotions|reviews)$", "body.productId", "product"),
    (r"^/api/v1/orders$", "body.items[*].productId", "product"),
    (r"^/api/v1/orders$", "body.addressId", "address"),
    (r"^/api/v1/orders$", "body.couponId", "coupon"),
    (r"^/api/v1/coupons/issue$", "body.couponInfoId", "campaign"),
    (r"^/api/v1/(products|coupon-infos)", "body.companyId", "company"),
]
with open(config_out, "w") as out:
    out.write("# Written by .ci/fuzz-seed.py: the seeded ids, bound to the operations' parameters.\n")
    for kind, values in ids.items():
        out.write(f"[dictionaries.{kind}]\nvalues = {json.dumps(values)}\n")
    by_path = {}
    for regex, parameter, kind in bindings:
        by_path.setdefault(regex, []).append((parameter, kind))
    for regex, params in by_path.items():
        out.write(f"\n[[operations]]\ninclude-path-regex = {json.dumps(regex)}\n")
        for parameter, kind in params:
            out.write(f'parameters.{json.dumps(parameter)} = {{ dictionary = "{kind}", probability = 0.5 }}\n')
print(f"seeded: company {company}, products {products}, campaign {campaign}, orders {len(orders)}, review {review}")
