"""The original design, rebuilt as a benchmark peer (a fixture, not product code).

What the service Rendezvous replaces did on every request, and so what this
app does:

  * FastAPI + pydantic validate the body of POST /singletitanicpred/
    (defaults: fare -1, embarked "Q", age -1, passid "empty");
  * the raw input is transformed (gender encoded, -1 sentinels imputed with
    the training medians, embarked one-hot) and scored by two models: the
    production GradientBoostingClassifier and a second model
    (LogisticRegression), both scikit-learn, trained at start-up on the same
    Kaggle CSV the gateway's bundles come from;
  * one document per request (input, transformed features, both models'
    outputs) is inserted through the MongoDB protocol (pymongo insert_one)
    before the answer goes back;
  * the answer is the original's, misspelled key included.

One difference, in the peer's favour: the original opened a new MongoClient
for every request and closed it after the insert. This peer shares one client
(connection pool) across requests, which is faster; set
PEER_CLIENT_PER_REQUEST=1 to reproduce the original exactly.

Environment: PEER_TRAIN_CSV (Kaggle train.csv), PEER_MONGO_URL
(mongodb://127.0.0.1:27018/), PEER_MONGO_DB (peer), PEER_CLIENT_PER_REQUEST.

Run: /usr/bin/python3 -m uvicorn app:app --app-dir bench/peer --port 8091
"""

import csv
import datetime
import os
from typing import List

import numpy as np
import pymongo
from fastapi import FastAPI
from pydantic import BaseModel
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

TRAIN_CSV = os.environ.get("PEER_TRAIN_CSV", "../shared/data/titanic_train.csv")
MONGO_URL = os.environ.get("PEER_MONGO_URL", "mongodb://127.0.0.1:27018/")
MONGO_DB = os.environ.get("PEER_MONGO_DB", "peer")
CLIENT_PER_REQUEST = os.environ.get("PEER_CLIENT_PER_REQUEST", "") == "1"

WORDS = {0: "Did Not Survive", 1: "Survived"}
FEATURES = ["pclass", "gender", "age", "sibsp", "parch", "fare", "embarked_s", "embarked_c", "embarked_q"]


def _number(text, missing=-1.0):
    text = text.strip()
    return float(text) if text else missing


def load_training(path):
    """Reads the Kaggle CSV into raw inputs (sentinel -1 for missing) and labels."""
    rows, labels = [], []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows.append({
                "pclass": int(r["Pclass"]),
                "sex": r["Sex"],
                "age": _number(r["Age"]),
                "sibsp": int(r["SibSp"]),
                "parch": int(r["Parch"]),
                "fare": _number(r["Fare"]),
                "embarked": r["Embarked"].strip() or "Q",
            })
            labels.append(int(r["Survived"]))
    return rows, np.array(labels)


class Transformer:
    """The model data transformations: impute -1 sentinels, encode categories."""

    def __init__(self, rows):
        ages = [r["age"] for r in rows if r["age"] >= 0]
        fares = [r["fare"] for r in rows if r["fare"] >= 0]
        self.age_median = float(np.median(ages))
        self.fare_median = float(np.median(fares))

    def features(self, r):
        age = r["age"] if r["age"] >= 0 else self.age_median
        fare = r["fare"] if r["fare"] >= 0 else self.fare_median
        emb = r["embarked"]
        return {
            "pclass": float(r["pclass"]),
            "gender": 1.0 if r["sex"] == "male" else 0.0,
            "age": float(age),
            "sibsp": float(r["sibsp"]),
            "parch": float(r["parch"]),
            "fare": float(fare),
            "embarked_s": 1.0 if emb == "S" else 0.0,
            "embarked_c": 1.0 if emb == "C" else 0.0,
            "embarked_q": 1.0 if emb == "Q" else 0.0,
        }

    def matrix(self, rows):
        return np.array([[self.features(r)[k] for k in FEATURES] for r in rows])


_rows, _labels = load_training(TRAIN_CSV)
transformer = Transformer(_rows)
_X = transformer.matrix(_rows)
prod_model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=1).fit(_X, _labels)
dev_model = LogisticRegression(max_iter=1000).fit(_X, _labels)

_shared_client = None if CLIENT_PER_REQUEST else pymongo.MongoClient(MONGO_URL)


def store(docs):
    """One MongoDB-protocol insert per request, before the answer leaves."""
    client = pymongo.MongoClient(MONGO_URL) if CLIENT_PER_REQUEST else _shared_client
    col = client[MONGO_DB]["records"]
    if len(docs) == 1:
        col.insert_one(docs[0])
    else:
        col.insert_many(docs)
    if CLIENT_PER_REQUEST:
        client.close()


def score(model, x):
    prob = float(model.predict_proba(x)[0][1])
    pred = int(prob >= 0.5)
    return {"pred_survive": pred, "pred_word": WORDS[pred], "probability": prob}


def titanic_prediction(info):
    raw = {"pclass": info.pclass, "sex": info.sex, "age": info.age, "sibsp": info.sibsp,
           "parch": info.parch, "fare": info.fare, "embarked": info.embarked}
    feats = transformer.features(raw)
    x = np.array([[feats[k] for k in FEATURES]])
    return {
        "passid": info.passid,
        "received_at": datetime.datetime.utcnow(),
        "input": raw,
        "model_data_transformations": feats,
        "prod_results": score(prod_model, x),
        "dev_results": score(dev_model, x),
    }


app = FastAPI()


class TitanicPassInfo(BaseModel):
    pclass: int
    sex: str
    sibsp: int
    parch: int
    fare: float = -1
    embarked: str = "Q"
    age: float = -1
    passid: str = "empty"


def _answer(passid, results):
    return {"passid": passid,
            "prod_prediciton_binary": results["prod_results"]["pred_survive"],
            "prod_prediction_word": results["prod_results"]["pred_word"]}


@app.post("/singletitanicpred/")
def predict_single(info: TitanicPassInfo):
    results = titanic_prediction(info)
    store([results])
    return _answer(info.passid, results)


@app.post("/multititanicpred2/")
def predict_multi(infos: List[TitanicPassInfo]):
    results = [titanic_prediction(info) for info in infos]
    if results:
        store(results)
    return {"results": [_answer(i.passid, r) for i, r in zip(infos, results)]}
