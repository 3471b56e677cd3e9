"""Public metadata of the demo mesh, as its owners declare it.

The bounds and category lists of the Adult data set come from its public documentation
(UCI's ``adult.names``), not from reading the data.
"""

from decimal import Decimal

ADULT_COLUMNS = [
    # (name in the table, name in the CSV)
    ("age", "age"),
    ("workclass", "workclass"),
    ("fnlwgt", "fnlwgt"),
    ("education", "education"),
    ("education_num", "education-num"),
    ("marital_status", "marital-status"),
    ("occupation", "occupation"),
    ("relationship", "relationship"),
    ("race", "race"),
    ("sex", "sex"),
    ("capital_gain", "capital-gain"),
    ("capital_loss", "capital-loss"),
    ("hours_per_week", "hours-per-week"),
    ("native_country", "native-country"),
    ("salary", "Salary"),
]
ADULT_INTEGER_COLUMNS = {"age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"}

ADULT_BOUNDS: dict[str, tuple[Decimal, Decimal]] = {
    "age": (Decimal(17), Decimal(90)),
    "fnlwgt": (Decimal(0), Decimal(1_500_000)),
    "education_num": (Decimal(1), Decimal(16)),
    "capital_gain": (Decimal(0), Decimal(100_000)),
    "capital_loss": (Decimal(0), Decimal(5_000)),
    "hours_per_week": (Decimal(1), Decimal(99)),
}

ADULT_CATEGORIES: dict[str, list[str]] = {
    "workclass": [
        "Private", "Self-emp-not-inc", "Self-emp-inc", "Federal-gov", "Local-gov", "State-gov", "Without-pay",
        "Never-worked",
    ],
    "education": [
        "Bachelors", "Some-college", "11th", "HS-grad", "Prof-school", "Assoc-acdm", "Assoc-voc", "9th", "7th-8th",
        "12th", "Masters", "1st-4th", "10th", "Doctorate", "5th-6th", "Preschool",
    ],
    "marital_status": [
        "Married-civ-spouse", "Divorced", "Never-married", "Separated", "Widowed", "Married-spouse-absent",
        "Married-AF-spouse",
    ],
    "occupation": [
        "Tech-support", "Craft-repair", "Other-service", "Sales", "Exec-managerial", "Prof-specialty",
        "Handlers-cleaners", "Machine-op-inspct", "Adm-clerical", "Farming-fishing", "Transport-moving",
        "Priv-house-serv", "Protective-serv", "Armed-Forces",
    ],
    "relationship": ["Wife", "Own-child", "Husband", "Not-in-family", "Other-relative", "Unmarried"],
    "race": ["White", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other", "Black"],
    "sex": ["Female", "Male"],
    "native_country": [
        "United-States", "Cambodia", "England", "Puerto-Rico", "Canada", "Germany", "Outlying-US(Guam-USVI-etc)",
        "India", "Japan", "Greece", "South", "China", "Cuba", "Iran", "Honduras", "Philippines", "Italy", "Poland",
        "Jamaica", "Vietnam", "Mexico", "Portugal", "Ireland", "France", "Dominican-Republic", "Laos", "Ecuador",
        "Taiwan", "Haiti", "Columbia", "Hungary", "Guatemala", "Nicaragua", "Scotland", "Thailand", "Yugoslavia",
        "El-Salvador", "Trinadad&Tobago", "Peru", "Hong", "Holand-Netherlands",
    ],
    "salary": ["<=50K", ">50K"],
}

ADULT_DESCRIPTIONS = {
    "person_id": "Surrogate key of the person: the privacy unit of this dataset.",
    "age": "Age in years.",
    "workclass": "Employer type.",
    "fnlwgt": "Census final weight: how many people of the population this row stands for.",
    "education": "Highest level of education reached.",
    "education_num": "Highest level of education, as a number (1 = preschool … 16 = doctorate).",
    "marital_status": "Marital status.",
    "occupation": "Occupation group.",
    "relationship": "Role in the household.",
    "race": "Race, as recorded by the 1994 census.",
    "sex": "Sex, as recorded by the 1994 census.",
    "capital_gain": "Capital gains in the year, in US dollars.",
    "capital_loss": "Capital losses in the year, in US dollars.",
    "hours_per_week": "Hours worked per week.",
    "native_country": "Country of birth.",
    "salary": "Whether yearly income exceeds 50,000 US dollars.",
}

SALES_CATEGORIES: dict[str, list[str]] = {
    "region": ["north", "south", "east", "west", "central"],
    "channel": ["web", "store", "phone", "partner"],
    "product_category": ["books", "electronics", "garden", "grocery", "clothing", "toys", "sports", "beauty"],
}
SALES_BOUNDS: dict[str, tuple[Decimal, Decimal]] = {
    "quantity": (Decimal(1), Decimal(20)),
    "unit_price": (Decimal(0), Decimal(500)),
    "amount": (Decimal(0), Decimal(10_000)),
}
