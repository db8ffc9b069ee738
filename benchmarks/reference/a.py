"""Reference app (a): the least a Streamlit page can be."""

import streamlit as st

st.write("hello")
